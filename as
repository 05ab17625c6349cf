me 
